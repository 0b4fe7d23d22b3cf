"""One function per workflow rule: read the rule's input files, call the library, write outputs.

One module per workflow file: the steps of the rules of ``workflows/<name>.smk`` are in
``neuroopt.pipeline.steps.<name>``, and :data:`STEPS` maps every rule to its step.

Every step has the signature ``step(input, output, params, threads)`` (Snakemake's named lists,
or any objects with the same attributes) and writes each output through
:func:`neuroopt.utils.atomic_path`, so an interrupted job leaves no complete-looking file.
"""

from . import decoding_rsa, demo, fmri, gate, glm, meeg, r1glm, report, sparse

#: Every workflow module, by the name of its ``workflows/<name>.smk`` file.
MODULES = {m.__name__.rsplit(".", 1)[-1]: m for m in (decoding_rsa, demo, fmri, gate, glm, meeg, r1glm, report, sparse)}

#: rule name -> step function (``neuroopt.pipeline.get_step``).
STEPS = {
    "demo_dataset": demo.demo_dataset,
    "meeg_preprocess": meeg.meeg_preprocess,
    "meeg_epochs": meeg.meeg_epochs,
    "fmri_mask": fmri.fmri_mask,
    "fmri_clean": fmri.fmri_clean,
    "fmri_r1glm": r1glm.fmri_r1glm,
    "fmri_glm_contrast": glm.fmri_glm_contrast,
    "group_glm_contrast": glm.group_glm_contrast,
    "group_hrf": glm.group_hrf,
    "group_fmri_decoding": glm.group_fmri_decoding,
    "meeg_forward": sparse.meeg_forward,
    "meeg_sparse": sparse.meeg_sparse,
    "meeg_decoding": decoding_rsa.meeg_decoding,
    "fmri_decoding": decoding_rsa.fmri_decoding,
    "meeg_rsa": decoding_rsa.meeg_rsa,
    "fmri_rsa": decoding_rsa.fmri_rsa,
    "group_decoding": decoding_rsa.group_decoding,
    "group_rsa": decoding_rsa.group_rsa,
    "subject_report": report.subject_report,
    "subject_sessions": report.subject_sessions,
    "group_report": report.group_report,
    "subjects_done": gate.subjects_done,
    "group_gate": gate.group_gate,
}

__all__ = ["MODULES", "STEPS"]
