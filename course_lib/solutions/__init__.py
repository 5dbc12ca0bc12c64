"""Worked solutions of the two challenges, written from the exercise skeletons.

Open them on purpose, after trying: ``challenge1_scheduler.py`` and
``challenge2_agents.py`` in this folder.  They use nothing of
``course_lib.scheduler`` or ``course_lib.agents``, only the standard
library, and each part is marked with the notebook stage it belongs to.
"""
