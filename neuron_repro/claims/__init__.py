"""Every published claim, as data. ``REGISTRY`` lists them in report order."""

from neuron_repro.claims import chada2017, donnelly2019, lopes2019, nerneurons2020, radford2017

REGISTRY = [
    *radford2017.CLAIMS,
    *chada2017.CLAIMS,
    *donnelly2019.CLAIMS,
    *nerneurons2020.CLAIMS,
    *lopes2019.CLAIMS,
]
SOURCES = {
    module.CITATION.source: module.CITATION
    for module in (radford2017, chada2017, donnelly2019, nerneurons2020, lopes2019)
}


def get_claim(claim_id: str):
    for claim in REGISTRY:
        if claim.id == claim_id:
            return claim
    raise KeyError(f"no claim {claim_id!r}")
