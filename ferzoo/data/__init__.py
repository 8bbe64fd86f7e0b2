"""ferzoo.data"""
