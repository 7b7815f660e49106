export default function Upload() {
  return <h1>Upload</h1>;
}
