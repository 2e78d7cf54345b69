"""The SQLAlchemy example as a test: a model with pseudo_text columns, insert
through pseudo_encrypt, read through pseudo_decrypt, shred through the ORM
session, errors with their SQLSTATE. Prints one "ok: ..." line per check.

    python test_orm.py postgresql+psycopg://postgres@/db?host=/tmp/sock&port=5499
"""

import sys

from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, column_property, mapped_column, undefer

from pseudo_sqlalchemy import PseudoText, decrypt, encrypt, shred


class Base(DeclarativeBase):
    pass


class Customer(Base):
    __tablename__ = "orm_customer"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[str]
    name: Mapped[str | None] = mapped_column(PseudoText)
    phone: Mapped[str | None] = mapped_column(PseudoText)
    # Decrypted on demand only: reading plaintext is intentional.
    name_clear: Mapped[str | None] = column_property(decrypt(name), deferred=True)


def check(want, got, what):
    if want != got:
        print(f"FAIL: {what}: got {got!r}, want {want!r}")
        sys.exit(1)
    print(f"ok: {what}")


def main(url):
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS pseudo_ext"))
        Base.metadata.drop_all(conn)
        Base.metadata.create_all(conn)
    check("pseudo_text", engine.connect().scalar(text(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'orm_customer'::regclass AND attname = 'name'")),
        "create_all declares pseudo_text columns")

    with Session(engine) as session, session.begin():
        session.add_all([
            Customer(id=1, user_id="orm-u1", name=encrypt("orm-u1", "Alice Liddell"), phone=encrypt("orm-u1", "+44 20 7946 0000", "customer.phone")),
            Customer(id=2, user_id="orm-u2", name=encrypt("orm-u2", "Bob Builder"), phone=encrypt("orm-u2", "+44 20 7946 0001", "customer.phone")),
        ])

    with Session(engine) as session:
        c = session.get(Customer, 1)
        check(True, all(ch in "0123456789abcdef" for ch in c.name) and "Alice" not in c.name, "a loaded pseudo_text attribute is ciphertext hex")
        names = session.scalars(select(decrypt(Customer.name)).order_by(Customer.id)).all()
        check(["Alice Liddell", "Bob Builder"], names, "select decrypt(Customer.name)")
        phone = session.scalar(select(decrypt(Customer.phone, "customer.phone")).where(Customer.id == 2))
        check("+44 20 7946 0001", phone, "context-bound column decrypts with its context")
        c2 = session.scalars(select(Customer).options(undefer(Customer.name_clear)).where(Customer.id == 2)).one()
        check("Bob Builder", c2.name_clear, "column_property decrypts when undeferred")
        try:
            session.scalar(select(decrypt(Customer.phone)).where(Customer.id == 2))
            check("XX001", "no error", "a context-bound value without its context")
        except DBAPIError as e:
            check("XX001", e.orig.sqlstate, "a context-bound value without its context fails (XX001)")

    # Update through the ORM: a new ciphertext, same plaintext round trip.
    with Session(engine) as session, session.begin():
        c = session.get(Customer, 1)
        before = c.name
        c.name = encrypt(c.user_id, "Alice Pleasance Liddell")
    with Session(engine) as session:
        c = session.get(Customer, 1)
        check(True, c.name != before, "update writes a new ciphertext")
        check("Alice Pleasance Liddell", session.scalar(select(decrypt(Customer.name)).where(Customer.id == 1)), "updated value decrypts")

    # Shredding through the ORM session: the subject's values read NULL, others stay.
    with Session(engine) as session, session.begin():
        check(1, shred(session, "orm-u1"), "shred through the session destroys the subject's key")
    with Session(engine) as session:
        rows = session.execute(select(Customer.id, decrypt(Customer.name)).order_by(Customer.id)).all()
        check([(1, None), (2, "Bob Builder")], [tuple(r) for r in rows], "after shred: NULL for the subject, others unchanged")
    with Session(engine) as session:
        try:
            with session.begin():
                session.add(Customer(id=3, user_id="orm-u1", name=encrypt("orm-u1", "again")))
            check("55000", "no error", "encrypt for a shredded subject")
        except DBAPIError as e:
            check("55000", e.orig.sqlstate, "encrypt for a shredded subject fails (55000)")

    # Roles: a writer may encrypt but not decrypt.
    with engine.begin() as conn:
        conn.execute(text("DROP ROLE IF EXISTS orm_writer"))
        conn.execute(text("CREATE ROLE orm_writer IN ROLE pseudo_writer"))
        conn.execute(text("GRANT SELECT, INSERT ON orm_customer TO orm_writer"))
    with Session(engine) as session:
        with session.begin():
            session.execute(text("SET LOCAL ROLE orm_writer"))
            session.add(Customer(id=4, user_id="orm-u4", name=encrypt("orm-u4", "Carol")))
        print("ok: a pseudo_writer inserts through the ORM")
        try:
            with session.begin():
                session.execute(text("SET LOCAL ROLE orm_writer"))
                session.scalar(select(decrypt(Customer.name)).where(Customer.id == 4))
            check("42501", "no error", "a pseudo_writer decrypts")
        except DBAPIError as e:
            check("42501", e.orig.sqlstate, "a pseudo_writer cannot decrypt (42501)")
    with engine.begin() as conn:
        Base.metadata.drop_all(conn)
        conn.execute(text("DROP ROLE orm_writer"))


if __name__ == "__main__":
    main(sys.argv[1])
