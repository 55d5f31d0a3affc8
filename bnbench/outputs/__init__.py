"""What people read: the terminal tables (``table``), the regression gate's table (``compare``), figures
(``plots``), the HTML report (``report``) and training progress (``progress``). Renderers take typed rows."""
