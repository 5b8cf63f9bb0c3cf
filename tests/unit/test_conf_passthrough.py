"""[keystone_authtoken]: any option, kept as text for keystonemiddleware."""

from glancelet import conf


def test_authtoken_options_are_passed_through_as_text(tmp_path):
    path = tmp_path / "glancelet.conf"
    path.write_text("[keystone_authtoken]\nauth_type = password\nmemcached_servers = "
                    "127.0.0.1:11211\ndelay_auth_decision = false\n")
    (tmp_path / "glancelet.conf.d").mkdir()
    (tmp_path / "glancelet.conf.d" / "secret.conf").write_text(
        "[keystone_authtoken]\npassword = s3cret\nauth_type = v3password\n")
    loaded = conf.load(str(path), environ={})
    assert loaded["keystone_authtoken"] == {
        "auth_type": "v3password", "memcached_servers": "127.0.0.1:11211",
        "delay_auth_decision": "false", "password": "s3cret"}


def test_no_authtoken_section_is_an_empty_dict():
    assert conf.load(environ={})["keystone_authtoken"] == {}


def test_sample_names_the_passthrough_section():
    assert "\n[keystone_authtoken]\n" in conf.sample_config()
