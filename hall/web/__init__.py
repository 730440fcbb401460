"""The hall's HTML pages, all on one page template (page.py): the citizen's progress page (progress.py,
/progress/<receipt_no>, public), the staff's pages (staff.py, /staff: applications, one application,
ratings) and the staff's terminals page (terminals.py, /staff/terminals). None is in the OpenAPI
document: they are browser pages, not API.
"""
