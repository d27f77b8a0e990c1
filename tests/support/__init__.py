"""Test peers on real loopback sockets: the TGI simulator and an hfgate server."""
