"""Configuration loading, validation and the generated sample."""

import pathlib
import re

import pytest

from glancelet import conf


def write(tmp_path, text):
    path = tmp_path / "glancelet.conf"
    path.write_text(text)
    return str(path)


def test_defaults_need_no_file(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    c = conf.load(environ={})
    assert c.get("DEFAULT", "image_size_cap") == 1099511627776
    assert c.get("DEFAULT", "enabled_import_methods") == ["glance-direct", "web-download"]
    assert c.get("database", "connection") == (
        "sqlite:///%s/.local/share/glancelet/glancelet.sqlite" % tmp_path)
    assert c.get("wsgi", "task_pool_threads") == 16


def test_file_named_by_environment(tmp_path):
    path = write(tmp_path, "[DEFAULT]\nimage_size_cap = 1024\n"
                           "enabled_import_methods = [glance-direct]\n"
                           "[import_filtering_opts]\nallowed_ports = [80, 8080]\n")
    c = conf.load(environ={conf.ENV_CONFIG_FILE: path})
    assert c.get("DEFAULT", "image_size_cap") == 1024
    assert c.get("DEFAULT", "enabled_import_methods") == ["glance-direct"]
    assert c.get("import_filtering_opts", "allowed_ports") == [80, 8080]
    assert c.source == path


@pytest.mark.parametrize("text,message", [
    ("[DEFAULT]\nimage_size_cap = big\n", "[DEFAULT] image_size_cap = 'big' is not an integer"),
    ("[DEFAULT]\nimage_size_cap = 0\n", "must be at least 1"),
    ("[DEFAULT]\nimage_sizecap = 1\n", "unknown option [DEFAULT] image_sizecap"),
    ("[glance]\nx = 1\n", "unknown section [glance]"),
    ("[DEFAULT]\nenabled_import_methods = copy-image\n", "'copy-image' is not one of"),
    ("[DEFAULT]\nhashing_algorithm = crc\n", "'crc' is not one of"),
    ("[database]\nconnection = mysql://x\n", "starting with sqlite:///, postgresql+psycopg:// "
     "or mysql+pymysql://, got 'mysql://x'"),
    ("[import_filtering_opts]\nallowed_ports = 80,http\n", "not an integer"),
    ("no section header\n", "is not valid INI"),
    ("[glancelet]\ndownload_offload = x-lighttpd-send-file\n", "'x-lighttpd-send-file' is "
     "not one of: (empty), x-accel-redirect, x-sendfile"),
    ("[glancelet]\ndownload_offload_uri = glancelet-offload/\n",
     "[glancelet] download_offload_uri = 'glancelet-offload/' must be a path that starts "
     "and ends with /"),
    ("[glancelet]\ndownload_offload_uri = /glancelet-offload\n", "starts and ends with /"),
])
def test_invalid_config_is_one_clear_line(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(conf.ConfigError) as info:
        conf.load(environ={conf.ENV_CONFIG_FILE: path})
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_drop_in_directory_is_read_after_the_file_in_name_order(tmp_path):
    path = write(tmp_path, "[DEFAULT]\nimage_size_cap = 1024\n"
                           "[import_filtering_opts]\nallowed_ports = 80\n")
    drop_in = tmp_path / "glancelet.conf.d"
    drop_in.mkdir()
    (drop_in / "20-late.conf").write_text("[import_filtering_opts]\nallowed_ports = 8081\n")
    (drop_in / "10-early.conf").write_text("[import_filtering_opts]\n"
                                           "allowed_ports = 8080\nallowed_hosts = 10.0.0.5\n")
    (drop_in / "ignored.conf.disabled").write_text("[DEFAULT]\nimage_size_cap = 1\n")
    (drop_in / ".hidden.conf").write_text("[DEFAULT]\nimage_size_cap = 2\n")
    c = conf.load(environ={conf.ENV_CONFIG_FILE: path})
    assert c.get("DEFAULT", "image_size_cap") == 1024          # from the file
    assert c.get("import_filtering_opts", "allowed_ports") == [8081]  # the last drop-in wins
    assert c.get("import_filtering_opts", "allowed_hosts") == ["10.0.0.5"]
    assert c.source == path
    assert c.files == [path, str(drop_in / "10-early.conf"), str(drop_in / "20-late.conf")]


def test_an_error_in_a_drop_in_file_names_that_file(tmp_path):
    path = write(tmp_path, "[DEFAULT]\nimage_size_cap = 1024\n")
    drop_in = tmp_path / "glancelet.conf.d"
    drop_in.mkdir()
    (drop_in / "mirror.conf").write_text("[import_filtering_opts]\nallowed_ports = x\n")
    with pytest.raises(conf.ConfigError) as info:
        conf.load(environ={conf.ENV_CONFIG_FILE: path})
    assert str(info.value).startswith(str(drop_in / "mirror.conf") + ": ")


def test_missing_file(tmp_path):
    with pytest.raises(conf.ConfigError, match="cannot read config file"):
        conf.load(environ={conf.ENV_CONFIG_FILE: str(tmp_path / "nope.conf")})


def test_sample_lists_every_option_with_its_default():
    sample = conf.sample_config()
    for opt in conf.OPTIONS:
        assert "[%s]" % opt.section in sample
        assert "\n#%s = " % opt.name in sample
    assert "#image_size_cap = 1099511627776" in sample
    assert "#hashing_algorithm = sha512" in sample


def test_sample_is_a_loadable_config(tmp_path):
    # Uncommenting nothing: the sample parses as INI with only known sections.
    path = write(tmp_path, conf.sample_config())
    conf.load(environ={conf.ENV_CONFIG_FILE: path})


@pytest.mark.parametrize("hosts,ports,schemes", [
    ("[127.0.0.1, 10.0.0.5]", "[60990,8080]", "[http]"),   # Glance's form (bounds=True)
    ("127.0.0.1, 10.0.0.5", "60990,8080", "http"),         # the bare form
])
def test_import_filtering_lists_with_or_without_brackets(tmp_path, hosts, ports, schemes):
    path = write(tmp_path, "[import_filtering_opts]\nallowed_hosts = %s\n"
                           "allowed_ports = %s\nallowed_schemes = %s\n" % (hosts, ports, schemes))
    c = conf.load(environ={conf.ENV_CONFIG_FILE: path})
    assert c.get("import_filtering_opts", "allowed_hosts") == ["127.0.0.1", "10.0.0.5"]
    assert c.get("import_filtering_opts", "allowed_ports") == [60990, 8080]
    assert c.get("import_filtering_opts", "allowed_schemes") == ["http"]


def test_the_import_example_writes_lists_as_glance_reads_them():
    """Glance declares the [import_filtering_opts] lists with bounds=True: a
    value without brackets is a config error there, and every web-download
    fails with 400. The example must work with Glance too."""
    text = (pathlib.Path(__file__).resolve().parents[2]
            / "examples" / "import" / "internal-mirror.conf").read_text()
    values = re.findall(r"^(allowed_\w+|disallowed_\w+)\s*=\s*(.*)$", text, re.M)
    assert values
    for name, value in values:
        assert value.startswith("[") and value.endswith("]"), (name, value)
