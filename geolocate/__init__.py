"""geolocate: where on Earth to search for a photo, as ranked H3 regions within an area budget.

Data flows one way: image or record -> experts -> per-cell distributions -> ensemble -> ranked regions
and metrics -> UI. This package knows nothing of Streamlit.
"""

__version__ = "0.5.0"
