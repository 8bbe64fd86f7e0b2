"""Tests of ferzoo.data."""
