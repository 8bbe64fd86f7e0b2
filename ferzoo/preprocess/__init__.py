"""ferzoo.preprocess"""
