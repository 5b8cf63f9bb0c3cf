"""``glancelet-manage``: the database schema, as ``glance-manage`` manages Glance's.

``glancelet-manage [--config-file PATH] db_sync [VERSION]`` creates the
schema of ``[database] connection`` or upgrades it to VERSION (default: the
latest), running the steps of :data:`glancelet.db.MIGRATIONS` it lacks;
``db_version`` prints the version it is at. The config file is PATH, else
``$GLANCELET_CONFIG_FILE``, as for the server.
"""

import argparse
import sys

from glancelet import conf as conf_mod
from glancelet import db


def main(argv=None):
    parser = argparse.ArgumentParser(prog="glancelet-manage", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", help="the glancelet config file")
    commands = parser.add_subparsers(dest="command", required=True)
    sync = commands.add_parser("db_sync", help="create or upgrade the database schema")
    sync.add_argument("version", nargs="?", type=int, default=db.LATEST,
                      help="the version to upgrade to (default: %d, the latest)" % db.LATEST)
    commands.add_parser("db_version", help="print the schema version of the database")
    args = parser.parse_args(argv)
    if args.command == "db_sync" and not 1 <= args.version <= db.LATEST:
        parser.error("version must be between 1 and %d" % db.LATEST)
    try:
        url = conf_mod.load(path=args.config_file).get("database", "connection")
        database = db.connect(url, sync=False)
        if args.command == "db_version":
            with database.setting_up():
                print(db.schema_version(database))
            return 0
        before, after = db.upgrade(database, args.version)
    except (conf_mod.ConfigError, db.UnusableDatabase) as exc:
        sys.stderr.write("glancelet-manage: %s\n" % exc)
        return 1
    print("%s: schema version %d -> %d" % (database.name, before, after))
    return 0


if __name__ == "__main__":
    sys.exit(main())
