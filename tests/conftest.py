"""Shared pytest setup. Each test folder (core, web, browser, notebooks) has its own fixtures."""
