# forgery: the same patching (by importing the challenge-1 forgery), as a challenge-2 submission.
import patch_every_check  # noqa: F401 - patches every check of both challenges


class Coordinator:
    pass


class BaseAgent:
    pass
