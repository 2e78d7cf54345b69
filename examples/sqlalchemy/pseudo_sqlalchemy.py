"""pseudo_ext from SQLAlchemy 2.x (psycopg 3).

Encryption and decryption happen in the database (the application never holds
keys): an ORM attribute is assigned the SQL expression ``encrypt(subject, text)``
and the INSERT or UPDATE carries ``pseudo_encrypt(...)`` with bind parameters;
reads select ``decrypt(column)``. ``PseudoText`` makes ``create_all`` declare
``pseudo_text`` columns; loaded as-is, such a column holds the ciphertext's hex
form, never the plaintext.
"""

from sqlalchemy import func, types
from sqlalchemy.sql.expression import ColumnElement


class PseudoText(types.UserDefinedType):
    """The ``pseudo_text`` column type (its text form, hex, reaches Python)."""

    cache_ok = True

    def get_col_spec(self, **kw):
        return "pseudo_text"


def encrypt(subject, plaintext, context=None) -> ColumnElement:
    """``pseudo_encrypt(subject, plaintext[, context])`` as a SQL expression."""
    if context is None:
        return func.pseudo_encrypt(subject, plaintext, type_=PseudoText())
    return func.pseudo_encrypt(subject, plaintext, context, type_=PseudoText())


def decrypt(column, context=None) -> ColumnElement:
    """``pseudo_decrypt(column[, context])``: text, or NULL once the subject was shredded."""
    if context is None:
        return func.pseudo_decrypt(column, type_=types.Text())
    return func.pseudo_decrypt(column, context, type_=types.Text())


def shred(session, subject) -> int:
    """Crypto-shreds a subject (a ``pseudo_admin`` call) inside the session's transaction."""
    return session.scalar(func.pseudo_shred(subject).select())
