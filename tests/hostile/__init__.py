"""The hostile-submission corpus of issue 6 (``tests/test_hostile_class.py`` grades it).

``cases.py`` builds, from the real lessons in ``solutions/``, one submission
per hostile or broken behaviour plus a few honest students, and says for each
what score and which grader notes it must get, and why.
"""
