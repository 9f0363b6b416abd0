"""Stages `hallucination_samples` and `eavss`: labelled items, class-conditional statistics, HSAV / HSS / EAVSS."""
