"""The auditors' integrity checks above every domain: the read model rebuilt from the audit
chain and compared with what is stored."""
