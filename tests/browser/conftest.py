"""Browser tests: register the ``browser`` marker (``-m browser`` / ``-m "not browser"``)."""


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "browser: opens the notebooks in JupyterLab in headless Chromium"
    )
