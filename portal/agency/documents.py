"""Documents on cases for agency staff: collectors add correspondence, legal adds filings."""

from portal.agency import bp
from portal.web.documents import register_document_views

register_document_views(bp)
