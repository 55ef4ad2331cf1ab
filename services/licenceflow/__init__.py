"""licenceflow: export-licence workflow for controlled rare earths."""

__version__ = "0.1.0"
