"""Experts: each turns one source of evidence into a density over the globe."""

from .attribute import AttributeExpert, attribute_log_likelihood, override_probs, tempered
from .base import ArrayExpert, Expert
from .point import DEFAULT_SCALES_KM, PointExpert, fit_scale_mixture, haversine_km, kernel_log_density
from .priors import DensityFieldExpert, PhotoDensityPrior, PopulationPrior, UniformLandPrior, standard_priors
from .region import CountryProbabilityExpert, RegionExpert, country_areas_km2, country_codes

__all__ = [
    "ArrayExpert", "AttributeExpert", "CountryProbabilityExpert", "country_areas_km2", "DEFAULT_SCALES_KM", "DensityFieldExpert", "Expert", "PhotoDensityPrior",
    "PointExpert", "PopulationPrior", "RegionExpert", "UniformLandPrior", "attribute_log_likelihood",
    "country_codes", "fit_scale_mixture", "haversine_km", "kernel_log_density", "override_probs",
    "standard_priors", "tempered",
]
