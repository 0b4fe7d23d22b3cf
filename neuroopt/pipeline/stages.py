"""Step functions of the analysis stages (HRF estimation, sparse sources, decoding, RSA).

Same contract as :mod:`neuroopt.pipeline.steps`: ``step(input, output, params, threads)``,
outputs written atomically.
"""

from __future__ import annotations
