"""Documents on the creditor's cases (the views are shared with the agency)."""

from portal.creditor import bp
from portal.web.documents import register_document_views

register_document_views(bp)
