"""The case bundle for the creditor (the view is shared with agency staff)."""

from portal.creditor import bp
from portal.web.bundles import download_bundle

bp.add_url_rule("/cases/<int:case_id>/bundle.zip", "case_bundle", download_bundle)
