"""Tests of ferzoo.video."""
