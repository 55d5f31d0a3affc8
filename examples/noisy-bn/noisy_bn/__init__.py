"""Santurkar et al. (2018), section 2.1: does BatchNorm help by controlling internal covariate shift? A VGG trained
with BatchNorm followed by noise of non-zero mean and non-unit variance that changes every step, against BatchNorm
and against no BatchNorm, declared as a bnbench study through bnbench's public API only."""
