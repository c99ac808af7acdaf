"""The testing kit itself: its compliance suite accepts every kind of service the manager accepts."""

from caruso.testing import ServiceContract


class PlainClient:
    """A ready-made client object: no lifecycle, always active."""

    def lookup(self, key):
        return key


class TestPlainClientPassesTheContract(ServiceContract):
    """A plain object registered as a service passes the whole compliance suite."""

    def make_service(self):
        return PlainClient()
