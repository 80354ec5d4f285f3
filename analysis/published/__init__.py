"""Published findings (Jain & Wallace 2019 and the replies) as claims checked against the study's tables."""

from analysis.published.claims import PUBLISHED_CLAIMS, Interval, Outcome, PublishedClaim

__all__ = ["PUBLISHED_CLAIMS", "Interval", "Outcome", "PublishedClaim"]
