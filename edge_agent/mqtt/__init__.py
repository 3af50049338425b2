"""MQTT, and only the MQTT side: ``topics`` (every topic built and parsed
here), ``link`` (the box's connection, Last Will, reconnect), ``commands``
(the command schema and router), ``discovery`` (Home Assistant). It knows no
model and no agent: the agent hands it payloads and handlers.
"""
