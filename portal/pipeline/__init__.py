"""The recruiter's pipeline as a service: inviting candidates one by one or in batches, and reading
where each invite stands (its stage, score and next step) for pages, exports and the API alike.

It sits above every domain app (it reads invites, pushes, runs and reviews together) and below the
entry points (``portal.web``, ``portal.api``, ``portal.ats``), which only call it.
"""
