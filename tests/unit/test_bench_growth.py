"""benchmarks.growth: the backend label of each growth deployment."""

from benchmarks import growth


def test_backend_names_the_database_server_of_the_connection():
    assert growth.backend("sqlite:////var/lib/glancelet/glancelet.db") == "SQLite"
    assert growth.backend("postgresql+psycopg://glancelet:pw@127.0.0.1:5432/glancelet") \
        == "PostgreSQL"
    assert growth.backend("mysql+pymysql://glancelet:pw@127.0.0.1:3306/glancelet"
                          "?charset=utf8mb4") == "MariaDB"


def test_analyze_updates_the_statistics_of_the_images_table(tmp_path):
    """After a fill the growth figures are taken on an analyzed table: on
    SQLite, ANALYZE leaves the images table's index statistics in
    sqlite_stat1 (PostgreSQL and MariaDB run their own statement from
    growth.ANALYZE in the full run)."""
    from glancelet import db
    database = db.connect("sqlite:///%s" % (tmp_path / "g.db"))
    repo = db.ImageRepo(database)
    now = "2026-12-01T00:00:00.000000"
    repo.add_all([{"id": "%08d-0000-0000-0000-000000000000" % i, "name": "i%d" % i,
                   "status": "queued", "visibility": "shared", "owner": "p", "protected": False,
                   "created_at": now, "updated_at": now, "tags": [], "properties": {}}
                  for i in range(50)])
    assert growth.analyze(database) >= 0
    rows = database.query("SELECT tbl, idx, stat FROM sqlite_stat1 WHERE tbl = 'images'")
    assert rows and any(row[2].startswith("50") for row in rows), rows
    assert set(growth.ANALYZE) == {"sqlite", "postgresql", "mysql"}
