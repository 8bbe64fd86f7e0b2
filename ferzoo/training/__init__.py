"""ferzoo.training"""
