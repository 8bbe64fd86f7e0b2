"""Tests of ferzoo.preprocess."""
