import HtmlWebpackPlugin from "html-webpack-plugin";

// A plain webpack 5 app: the .wasm is found through localrank's `new URL(…, import.meta.url)`
// and emitted as a fingerprinted asset, as webpack does by default.
export default {
  mode: "production",
  entry: "./src/main.js",
  output: { path: new URL("./dist/", import.meta.url).pathname, filename: "[name].[contenthash].js", clean: true },
  plugins: [new HtmlWebpackPlugin({ template: "./index.html", scriptLoading: "module" })],
};
