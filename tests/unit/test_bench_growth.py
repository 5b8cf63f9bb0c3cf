"""benchmarks.growth: the backend label of each growth deployment."""

from benchmarks import growth


def test_backend_names_the_database_server_of_the_connection():
    assert growth.backend("sqlite:////var/lib/glancelet/glancelet.db") == "SQLite"
    assert growth.backend("postgresql+psycopg://glancelet:pw@127.0.0.1:5432/glancelet") \
        == "PostgreSQL"
    assert growth.backend("mysql+pymysql://glancelet:pw@127.0.0.1:3306/glancelet"
                          "?charset=utf8mb4") == "MariaDB"
