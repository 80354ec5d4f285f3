"""Published findings (Jain & Wallace 2019 and the replies) as claims decided run by run on the study's
per-example tables."""

from analysis.published.claims import PUBLISHED_CLAIMS, ClaimData, ClaimSettings, PublishedClaim, RunTest, decide

__all__ = ["PUBLISHED_CLAIMS", "ClaimData", "ClaimSettings", "PublishedClaim", "RunTest", "decide"]
