// Renders the API reference of GET /docs: Redoc (the pinned bundle served
// beside this script) with the OpenAPI document at openapi.json, all from the
// page's own origin. URLs are relative to the page, so the reference also
// works behind a path prefix.
(function () {
  'use strict';

  // Redoc draws its attribution logo from another origin. The page's CSP
  // would block that image, but a blocked load is still an attempt and a
  // console error; so images whose URL leaves this origin get no source at
  // all (an empty src fails at once, and Redoc then drops the image).
  function local(value) {
    try {
      var url = new URL(String(value), document.baseURI);
      return url.origin === location.origin || url.protocol === 'data:' || url.protocol === 'blob:';
    } catch (e) {
      return false;
    }
  }
  var image = HTMLImageElement.prototype;
  var setAttribute = Element.prototype.setAttribute;
  image.setAttribute = function (name, value) {
    if (String(name).toLowerCase() === 'src' && !local(value)) {
      value = '';
    }
    return setAttribute.call(this, name, value);
  };
  var src = Object.getOwnPropertyDescriptor(image, 'src');
  Object.defineProperty(image, 'src', {
    configurable: true,
    enumerable: src.enumerable,
    get: src.get,
    set: function (value) {
      src.set.call(this, local(value) ? value : '');
    }
  });

  var spec = new URL('openapi.json', document.baseURI).href;
  window.Redoc.init(spec, {
    downloadDefinitionUrl: new URL('openapi.yaml', document.baseURI).href
  }, document.getElementById('reference'), function (err) {
    if (err) {
      console.error('The API reference could not be rendered:', err);
    }
  });
})();
