"""The case bundle for agency staff (the view is shared with creditors)."""

from portal.agency import bp
from portal.web.bundles import download_bundle

bp.add_url_rule("/cases/<int:case_id>/bundle.zip", "case_bundle", download_bundle)
