"""Qoach: corporate quizzes and learning analytics."""
