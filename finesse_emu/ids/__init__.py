"""The emulated Cisco Identity Service (single sign-on): the token format a node checks
(``tokens``), the pure authorization server (``core``) and its process (``server``)."""
