"""Teaching aids for the notebooks: diagrams and plots, widgets, exercises with checks.
A front: it may import any subpackage but cli; nothing in enumlab imports it.
"""
