"""One router per resource: health, models, predictions, reports, and the web page."""
