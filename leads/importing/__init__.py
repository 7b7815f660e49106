"""The import pipeline shared by the API, the admin and ``manage.py import_leads``.

Kept free of model imports: phone-normalising worker processes import
``leads.importing.phoneworker`` without setting Django up.
"""
