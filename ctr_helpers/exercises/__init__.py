"""Answer checkers for the notebooks: ``from ctr_helpers.exercises.ex02 import q1, q2``."""
