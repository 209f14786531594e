"""The applicant-tracking-system link: Greenhouse's Assessment Partner API, served over the pipeline's services."""
