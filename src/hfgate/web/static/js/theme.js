// Applies the theme chosen with the shell's toggle before the first paint (no flash): a classic
// script loaded in <head>, since the CSP allows no inline script. "system" (or nothing stored)
// leaves <html> without data-theme, so the OS preference decides (app.css's media query).
(function () {
  try {
    var mode = localStorage.getItem('hfgate-theme');
    if (mode === 'light' || mode === 'dark') document.documentElement.setAttribute('data-theme', mode);
  } catch (e) {
    // Storage may be unavailable (privacy settings): the OS preference applies.
  }
})();
