import psycopg2
import redis
from flask import Flask

app = Flask(__name__)
cache = redis.Redis(host="cache", port=6379)


def connect():
    with open("/run/secrets/db-password") as f:
        password = f.read().strip()
    return psycopg2.connect(host="db", dbname="example", user="postgres", password=password)


@app.route("/")
def visit():
    hits = cache.incr("hits")
    conn = connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS visits (id serial PRIMARY KEY)")
            cur.execute("INSERT INTO visits DEFAULT VALUES")
            cur.execute("SELECT count(*) FROM visits")
            visits = cur.fetchone()[0]
    finally:
        conn.close()
    return f"visits {visits} hits {hits}\n"
