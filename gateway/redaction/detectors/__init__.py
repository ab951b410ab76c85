"""Face and licence-plate detectors behind one Protocol (`Detector`)."""
