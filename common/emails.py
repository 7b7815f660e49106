def normalize_email(email):
    """Emails are compared case-insensitively, so they are stored lower-case.

    MariaDB's default collation would compare case-insensitively but SQLite's
    would not; storing one form keeps the unique index honest on both.
    """
    return (email or "").strip().lower()
