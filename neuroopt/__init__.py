"""neuroopt: M/EEG and fMRI analysis over BIDS, from preprocessing to sparse sources, HRFs and RSA."""

__version__ = "0.1.0"
